(* attack: an admitted lemma inside a section, used and then discharged | false: bad t *)
Section S.
Lemma bad : 1 = 2.
Proof. Admitted.
Theorem t : 1 = 2.
Proof. exact bad. Qed.
End S.
