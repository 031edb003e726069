(* attack: an --allow-axiom value that is a name with a trailing dot (a Coq sentence end) | false: t | exit: 2 | args: --allow-axiom bad. *)
Axiom bad : 1 = 2.
Theorem t : 1 = 2.
Proof. exact bad. Qed.
