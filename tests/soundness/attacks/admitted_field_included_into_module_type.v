(* attack: a module type includes another whose lemma is admitted, and its theorem uses it | false: T.t *)
Module Type U.
Lemma adm : 1 = 2.
Proof. Admitted.
End U.
Module Type T.
Include U.
Theorem t : 1 = 2.
Proof. exact adm. Qed.
End T.
