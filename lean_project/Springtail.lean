import Springtail.TacticLib
