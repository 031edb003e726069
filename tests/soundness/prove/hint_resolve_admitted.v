(* prove: auto finds an admitted lemma through a hint | theorem: bad *)
Lemma adm : 1 = 2.
Proof. Admitted.
#[export] Hint Resolve adm : core.
Theorem bad : 1 = 2.
Proof. Admitted.
