(* prove: auto finds the axiom through a hint | theorem: bad *)
Axiom cheat : 1 = 2.
#[export] Hint Resolve cheat : core.
Theorem bad : 1 = 2.
Proof. Admitted.
