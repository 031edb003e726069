(* attack: `Fail Qed.` is not an ender | false: bad *)
Theorem bad : 1 = 2.
Proof.
Fail Qed.
Admitted.
