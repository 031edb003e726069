(* attack: an axiom named like an imported functor parameter's field | false: t *)
Module Type T. Parameter bad : 1 = 2. End T.
Axiom bad : 1 = 2.
Module F (Import X : T).
End F.
Theorem t : 1 = 2.
Proof. exact bad. Qed.
