(* attack: an aborted statement, then the same statement from an axiom | false: t *)
Theorem bad : 1 = 2.
Abort.
Axiom bad : 1 = 2.
Theorem t : 1 = 2.
Proof. exact bad. Qed.
