(* attack: an admitted lemma inside a module type | false: MT.bad MT.t *)
Module Type MT.
Parameter n : nat.
Lemma bad : 1 = 2.
Proof. Admitted.
Lemma t : 1 = 2.
Proof. exact bad. Qed.
End MT.
