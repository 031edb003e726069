(* prove: a non-terminating fixpoint reachable by auto | theorem: bad *)
Unset Guard Checking.
Fixpoint loop (n : nat) : 1 = 2 := loop n.
Set Guard Checking.
#[export] Hint Resolve loop : core.
Theorem bad : forall n : nat, 1 = 2.
Proof. Admitted.
