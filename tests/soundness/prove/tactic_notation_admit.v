(* prove: the portfolio's tauto is redefined to admit | theorem: bad *)
Tactic Notation "tauto" := admit.
Theorem bad : 1 = 2.
Proof. Admitted.
