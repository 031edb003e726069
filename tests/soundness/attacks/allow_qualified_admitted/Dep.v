Lemma adm : 1 = 2.
Proof. Admitted.
