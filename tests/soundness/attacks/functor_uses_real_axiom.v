(* attack: a functor theorem that uses a real axiom, not a parameter | false: t *)
Axiom cheat : 1 = 2.
Module Type T. Parameter n : nat. End T.
Module F (X : T).
Theorem t : 1 = 2.
Proof. exact cheat. Qed.
End F.
