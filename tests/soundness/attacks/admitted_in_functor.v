(* attack: an admitted lemma inside a functor body, behind Time | false: bad *)
Module Type T. Parameter n : nat. End T.
Module F (X : T).
Lemma bad : 1 = 2.
Proof. Time Admitted.
End F.
