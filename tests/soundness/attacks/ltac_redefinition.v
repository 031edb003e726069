(* attack: an Ltac definition that admits, closed by Qed | false: t *)
Ltac done := admit.
Theorem t : 1 = 2.
Proof. done. Qed.
