(* valid: the file's own axiom, allowed by its short name | proved: t | args: --allow-axiom ax *)
Axiom ax : forall n : nat, n = n.
Theorem t : 3 = 3.
Proof. exact (ax 3). Qed.
