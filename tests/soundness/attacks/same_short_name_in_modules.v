(* attack: the admitted A.t next to a clean B.t, keyed by short name | false: A.t *)
Module A.
Theorem t : 1 = 2.
Proof. Admitted.
End A.
Module B.
Theorem t : 1 = 1.
Proof. reflexivity. Qed.
End B.
