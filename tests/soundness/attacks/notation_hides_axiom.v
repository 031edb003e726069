(* attack: a notation makes an axiom look like a constructor | false: t *)
Axiom cheat : 1 = 2.
Notation Ipf := cheat.
Theorem t : 1 = 2.
Proof. exact Ipf. Qed.
