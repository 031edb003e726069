(* attack: an --allow-axiom value with punctuation after a real name | false: t | exit: 2 | args: --allow-axiom bad;Print.Assumptions *)
Axiom bad : 1 = 2.
Theorem t : 1 = 2.
Proof. exact bad. Qed.
