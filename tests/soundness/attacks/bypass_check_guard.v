(* attack: the bypass_check attribute | false: t *)
#[bypass_check(guard)] Fixpoint loop (n : nat) : False := loop n.
Theorem t : False.
Proof. exact (loop 0). Qed.
