(* attack: guard checking switched off | false: t *)
Unset Guard Checking.
Fixpoint loop (n : nat) : False := loop n.
Set Guard Checking.
Theorem t : False.
Proof. exact (loop 0). Qed.
