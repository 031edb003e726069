(* attack: an admitted Goal has no name | false: Unnamed_thm *)
Goal 1 = 2.
Admitted.
