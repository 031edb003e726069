(* attack: `Proof .` with a space made the old splitter see a proof term | false: bad *)
Theorem bad : 1 = 2.
Proof .
Admitted.
