(* attack: _CoqProject unsets guard checking | false: t | exit: 2 *)
Fixpoint loop (n : nat) : False := loop n.
Theorem t : False.
Proof. exact (loop 0). Qed.
