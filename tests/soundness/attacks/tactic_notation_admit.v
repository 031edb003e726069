(* attack: redefine a tactic's syntax to admit | false: t *)
Tactic Notation "reflexivity" := admit.
Theorem t : 1 = 2.
Proof. reflexivity. Qed.
