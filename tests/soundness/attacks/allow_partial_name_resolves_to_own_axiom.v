(* attack: --allow-axiom Classical_Prop.classic (the partial name Coq prints) resolves to the file's own module Classical_Prop, whose classic is 1 = 2 | false: t | args: --allow-axiom Classical_Prop.classic *)
Module Classical_Prop.
Axiom classic : 1 = 2.
End Classical_Prop.
Theorem t : 1 = 2.
Proof. exact Classical_Prop.classic. Qed.
