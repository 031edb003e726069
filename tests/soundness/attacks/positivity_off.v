(* attack: positivity checking switched off | false: t *)
Unset Positivity Checking.
Inductive bad := Bad : (bad -> False) -> bad.
Set Positivity Checking.
Definition self (b : bad) : False := match b with Bad f => f b end.
Theorem t : False.
Proof. exact (self (Bad self)). Qed.
