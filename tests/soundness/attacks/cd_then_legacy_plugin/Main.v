(* attack: change the working folder, where Coq looks for plugins, then load one by its core-looking file name | false: t | exit: 2 | plugin: announce.ml=micromega_plugin.cmxs *)
Time Cd "..".
Succeed Cd "case".
Declare ML Module "micromega_plugin:coq-core.plugins.micromega".
Theorem t : 1 = 2.
Proof. Admitted.
