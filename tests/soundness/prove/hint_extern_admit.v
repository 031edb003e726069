(* prove: auto admits through a hint | theorem: bad *)
#[export] Hint Extern 1 => admit : core.
Theorem bad : 1 = 2.
Proof. Admitted.
