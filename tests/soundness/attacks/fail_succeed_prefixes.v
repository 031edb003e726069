(* attack: Fail/Succeed around proof commands | false: t u *)
Axiom ax : 1 = 2.
Theorem t : 1 = 2.
Proof.
Fail Qed.
exact ax.
Qed.
Theorem u : 1 = 2.
Proof.
Succeed Admitted.
Admitted.
