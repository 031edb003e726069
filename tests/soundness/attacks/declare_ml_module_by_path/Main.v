(* attack: Declare ML Module with a relative file path loads any .cmxs, no ML path needed | false: t | exit: 2 | plugin: announce.ml=evil.cmxs *)
Declare ML Module (* hidden? *) "../case/evil:evil.plugin".
Theorem t : 1 = 2.
Proof. Admitted.
