(* attack: add the file's folder to the OCaml plugin path and load a plugin from it | false: t | exit: 2 | plugin: announce.ml=evil.cmxs *)
Add ML Path "$PWD".
Declare ML Module "evil:evil.plugin".
Theorem t : 1 = 2.
Proof. Admitted.
