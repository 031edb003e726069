(* attack: a user tactic named Qed' read as Qed | false: bad *)
Ltac Qed' := idtac.
Theorem bad : 1 = 2.
Proof.
  Qed'.
Admitted.
