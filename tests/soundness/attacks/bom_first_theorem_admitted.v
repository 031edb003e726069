(* attack: a byte-order mark before an admitted theorem | false: bad *)
Theorem bad : 1 = 2.
Proof. Admitted.
Theorem fine : 1 = 1.
Proof. reflexivity. Qed.
