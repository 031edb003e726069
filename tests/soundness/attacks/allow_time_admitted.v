(* attack: allow a lemma admitted behind Time | false: t | args: --allow-axiom adm *)
Lemma adm : 1 = 2.
Proof. Time Admitted.
Theorem t : 1 = 2.
Proof. exact adm. Qed.
