"""Stop word lists beyond scikit-learn's English one: the most frequent function words, accent-folded
(the analyzer folds accents before it looks words up)."""

GERMAN = frozenset("""
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch auf aus
bei bin bis bist da damit dann das dass dasselbe dazu dein deine deinem deinen deiner dem demselben den denn
der derer derselbe derselben des desselben dessen dich die dies diese dieselbe dieselben diesem diesen dieser
dieses dir doch dort du durch ein eine einem einen einer eines einig einige einigem einigen einiger einiges
einmal er es etwas euch euer eure eurem euren eurer fur gegen gewesen hab habe haben hat hatte hatten hier hin
hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer im in indem ins ist jede jedem jeden jeder jedes jene
jenem jenen jener jenes jetzt kann kein keine keinem keinen keiner konnen konnte machen man manche manchem
manchen mancher manches mein meine meinem meinen meiner mich mir mit muss musste nach nicht nichts noch nun nur
ob oder ohne sehr sein seine seinem seinen seiner selbst sich sie sind so solche solchem solchen solcher
soll sollte sondern sonst uber um und uns unser unsere unter viel vom von vor wahrend war waren warst was weg
weil weiter welche welchem welchen welcher welches wenn werde werden wie wieder will wir wird wirst wo wollen
wollte wurde wurden zu zum zur zwar zwischen
""".split())

FRENCH = frozenset("""
a ai aie aient ait alors au aucun aussi autre aux avais avait avant avec avez avoir avons ce ceci cela celle
celles celui ces cet cette ceux chaque ci comme comment dans de des donc dont du elle elles en encore entre
es est et etaient etait etant ete etre eu eux fait faire il ils je jusqu la le les leur leurs lui ma mais me
meme memes mes moi mon ne ni nos notre nous on ont ou par parce pas peu peut plus pour pourquoi qu quand que
quel quelle quelles quels qui sa sans se sera seront ses si sien son sont sous sur ta te tes toi ton tous tout
toute toutes tres tu un une vos votre vous vu
""".split())

SPANISH = frozenset("""
a al algo algunas algunos ante antes como con contra cual cuando de del desde donde durante e el ella ellas
ellos en entre era erais eran eras eres es esa esas ese eso esos esta estaba estaban estado estais estamos
estan estar estas este esto estos estoy fue fueron fui fuimos ha habia habian haber han has hasta hay la las
le les lo los mas me mi mis mucho muchos muy nada ni no nos nosotros o os otra otras otro otros para pero poco
por porque que quien quienes se sea sean ser si sido sin sobre son su sus tambien tanto te tenia tenian tener
tengo ti tiene tienen todo todos tu tus un una uno unos vosotros y ya yo
""".split())
