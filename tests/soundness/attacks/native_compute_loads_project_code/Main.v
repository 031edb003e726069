(* attack: native_compute dynlinks .coq-native/NDep.cmxs from the dependency's folder into coqc, with no option asking for it; that code (evil.ml, built with `ocamlfind ocamlopt -shared -o .coq-native/NDep.cmxs evil.ml`) compiles a clean Main.v to coqc's -o path and exits 0, so the audit reads a library whose t is 1 = 1 | false: t | build: Dep.v | plugin: forge_main_vo.ml=.coq-native/NDep.cmxs *)
Require Dep.
Eval native_compute in Dep.d.
Theorem t : 1 = 2.
Proof. Admitted.
