(* attack: allow a lemma admitted in a Loaded file | false: t | args: --allow-axiom adm *)
Load Helper.
Theorem t : 1 = 2.
Proof. exact adm. Qed.
