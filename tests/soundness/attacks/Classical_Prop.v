(* attack: a file named Classical_Prop.v declaring its own top-level classic : 1 = 2 and using it, under --allow-axioms classical | false: t | args: --allow-axioms classical *)
Axiom   classic	: 1 = 2.
Theorem t : 1 = 2.
Proof. exact classic. Qed.
