(* attack: the admitted field of an instantiated functor, allowed by name | false: bad t | args: --allow-axiom G.bad *)
Module Type T. Parameter n : nat. End T.
Module F (X : T).
Lemma bad : 1 = 2.
Proof. Admitted.
End F.
Module Impl. Definition n := 0. End Impl.
Module G := F Impl.
Theorem t : 1 = 2.
Proof. exact G.bad. Qed.
