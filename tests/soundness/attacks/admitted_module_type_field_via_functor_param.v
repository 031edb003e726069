(* attack: a functor uses, through its parameter, a lemma admitted in the parameter's module type | false: bad *)
Module Type T.
Lemma adm : 1 = 2.
Proof. Admitted.
End T.
Module F (X : T).
Theorem bad : 1 = 2.
Proof. exact X.adm. Qed.
End F.
