(* attack: allow, by qualified name, a lemma admitted in a dependency | false: t | build: Dep.v | args: --allow-axiom Dep.adm *)
Require Dep.
Theorem t : 1 = 2.
Proof. exact Dep.adm. Qed.
