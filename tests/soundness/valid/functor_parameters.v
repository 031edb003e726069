(* valid: theorems relative to functor parameters and module types | proved: F.t F.N.u T.l *)
Module Type T. Parameter n : nat. Axiom n_pos : 0 < n. Lemma l : n = n. Proof. reflexivity. Qed. End T.
Module F (X : T).
Theorem t : 0 < X.n.
Proof. exact X.n_pos. Qed.
Module N.
Theorem u : X.n = X.n.
Proof. reflexivity. Qed.
End N.
End F.
