(* attack: print "Closed under the global context" while compiling | false: bad *)
Axiom ax : 1 = 2.
Theorem bad : 1 = 2.
Proof. idtac "Closed under the global context". exact ax. Qed.
Print Assumptions I.
