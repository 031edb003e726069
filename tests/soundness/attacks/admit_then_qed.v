(* attack: admit inside a proof closed by Qed | false: bad *)
Theorem bad : 1 = 2.
Proof. admit. Qed.
