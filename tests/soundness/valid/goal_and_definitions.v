(* valid: a Goal, an interactive definition and an instance | proved: Unnamed_thm d *)
Goal True.
Proof. exact I. Qed.
Definition d : nat.
Proof. exact 0. Defined.
