(* attack: a Required project library declares a plugin by path, which its .vo loads again on Require | false: t | exit: 2 | plugin: announce.ml=evil.cmxs | build: Dep.v *)
Require Dep.
Theorem t : 1 = 2.
Proof. Admitted.
