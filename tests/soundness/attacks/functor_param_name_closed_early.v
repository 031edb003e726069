(* attack: Time End closes the functor; X.bad is a real axiom named like its parameter | false: t *)
Module Type T. Parameter bad : 1 = 2. End T.
Module X. Axiom bad : 1 = 2. End X.
Module F (X : T).
Time End F.
Theorem t : 1 = 2.
Proof. exact X.bad. Qed.
