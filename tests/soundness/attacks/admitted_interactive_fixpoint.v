(* attack: an interactive Fixpoint ended by Admitted | false: f *)
Fixpoint f (n : nat) : n = S n.
Admitted.
