(* attack: a theorem that uses an admitted one | false: bad t *)
Theorem bad : 1 = 2.
Proof. admit. Admitted.
Theorem t : 2 = 1.
Proof. symmetry. exact bad. Qed.
