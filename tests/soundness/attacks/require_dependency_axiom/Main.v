(* attack: a Required file declares the axiom | false: t | build: Dep.v *)
Require Dep.
Theorem t : 1 = 2.
Proof. exact Dep.bad. Qed.
