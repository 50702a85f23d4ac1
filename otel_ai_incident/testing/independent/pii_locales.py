"""The locales an assistant answers in: names, mail providers, field labels and sentence shapes of each.

Labels and sentences are what a support or back-office assistant writes in that language; the phone region and
IBAN country are the locale's own, so each value follows its national format.
"""

from __future__ import annotations

from dataclasses import dataclass

# Order of the labels in each locale's `labels` string.
LABEL_KEYS = (
    "name", "email", "phone", "mobile", "card", "iban", "ssn", "ip", "token",
    "order", "version", "section", "amount", "date", "tracking", "status",
)  # fmt: skip


@dataclass(frozen=True)
class Locale:
    code: str
    region: str
    iban_country: str | None
    first: tuple[str, ...]
    last: tuple[str, ...]
    domains: tuple[str, ...]
    labels_text: str
    prose: tuple[str, ...]
    intro: tuple[str, ...]
    company: str
    amount_format: str  # str.format pattern with {units} and {cents}
    # Latin transcriptions of `first` and `last` (same order) for scripts that e-mail addresses rarely use.
    first_latin: tuple[str, ...] = ()
    last_latin: tuple[str, ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        return dict(zip(LABEL_KEYS, self.labels_text.split("|"), strict=True))


_EN_PROSE = (
    "The {label} on file for {name} is {value}.",
    "{name} asked us to use {value} ({label}) from now on.",
    "I checked the record: {label} {value}, last updated yesterday.",
    "You can find {name}'s {label} here: {value}",
    'Per the account, the {label} of {name} is "{value}"; please confirm it.',
)
_EN_INTRO = ("Here are the details you asked for:", "Sure, this is what the record shows.", "Done. Summary below.")
_EN_LABELS = "Name|Email|Phone|Mobile|Card number|IBAN|SSN|IP address|API token|Order|Version|Section|Amount|Date|Tracking|Status"  # noqa: E501

LOCALES: tuple[Locale, ...] = (
    Locale(
        "en-US", "US", None,
        ("James", "Maria", "Robert", "Jennifer", "Michael", "Linda"),
        ("Smith", "Johnson", "Garcia", "Miller", "Davis", "Rodriguez"),
        ("gmail.com", "yahoo.com", "outlook.com", "comcast.net", "acme-health.com", "mail.northwind.us"),
        _EN_LABELS, _EN_PROSE, _EN_INTRO, "Northwind Health, Inc.", "${units}.{cents}",
    ),
    Locale(
        "en-GB", "GB", "GB",
        ("Oliver", "Amelia", "Harry", "Isla", "George", "Ava"),
        ("Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts"),
        ("btinternet.com", "hotmail.co.uk", "gmail.com", "sky.com", "fenwick-legal.co.uk", "nhs.net"),
        _EN_LABELS.replace("Phone", "Telephone").replace("Mobile", "Mobile no."), _EN_PROSE, _EN_INTRO,
        "Fenwick & Hale LLP", "£{units}.{cents}",
    ),
    Locale(
        "en-IN", "IN", None,
        ("Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Sneha"),
        ("Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair"),
        ("gmail.com", "rediffmail.com", "yahoo.co.in", "infotech.co.in", "outlook.com"),
        _EN_LABELS.replace("Mobile", "Mobile No."), _EN_PROSE, _EN_INTRO, "Sundaram Infotech Pvt. Ltd.",
        "₹{units}.{cents}",
    ),
    Locale(
        "de-DE", "DE", "DE",
        ("Jürgen", "Anna", "Lukas", "Sophie", "Maximilian", "Käthe"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Becker"),
        ("web.de", "gmx.de", "t-online.de", "posteo.de", "mueller-logistik.de", "uni-heidelberg.de"),
        "Name|E-Mail|Telefon|Mobil|Kartennummer|IBAN|SSN|IP-Adresse|API-Token|Bestellnummer|Version|Abschnitt|Betrag|Datum|Sendungsnummer|Status",
        (
            "Die {label} von {name} lautet {value}.",
            "{name} hat uns {value} als {label} genannt.",
            "Laut Datensatz: {label} {value}, zuletzt gestern geändert.",
            "Bitte verwenden Sie für {name} künftig {value} ({label}).",
        ),
        ("Hier sind die gewünschten Angaben:", "Gern, das steht im Datensatz.", "Erledigt. Zusammenfassung:"),
        "Müller Logistik GmbH", "{units},{cents} €",
    ),
    Locale(
        "fr-FR", "FR", "FR",
        ("Élodie", "Julien", "Camille", "François", "Léa", "Hugo"),
        ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard"),
        ("orange.fr", "free.fr", "laposte.net", "gmail.com", "sfr.fr", "cabinet-girard.fr"),
        "Nom|Courriel|Téléphone|Portable|Numéro de carte|IBAN|SSN|Adresse IP|Jeton API|Commande|Version|Section|Montant|Date|Suivi|Statut",  # noqa: E501
        (
            "Le {label} de {name} est {value}.",
            "{name} nous a indiqué {value} comme {label}.",
            "D'après la fiche : {label} {value}, mis à jour hier.",
            "Merci d'utiliser désormais {value} ({label}) pour {name}.",
        ),
        ("Voici les informations demandées :", "Bien sûr, voici ce que contient la fiche.", "C'est fait. Résumé :"),
        "Cabinet Girard SAS", "{units},{cents} €",
    ),
    Locale(
        "es-ES", "ES", "ES",
        ("José", "Lucía", "Álvaro", "Carmen", "Iñigo", "Paula"),
        ("García", "Fernández", "López", "Martínez", "Núñez", "Sánchez"),
        ("telefonica.net", "gmail.com", "hotmail.es", "yahoo.es", "correo.ugr.es", "viajes-iberia.es"),
        "Nombre|Correo|Teléfono|Móvil|Número de tarjeta|IBAN|SSN|Dirección IP|Token API|Pedido|Versión|Sección|Importe|Fecha|Seguimiento|Estado",  # noqa: E501
        (
            "El {label} de {name} es {value}.",
            "{name} nos indicó {value} como {label}.",
            "Según la ficha: {label} {value}, actualizado ayer.",
            "A partir de ahora use {value} ({label}) para {name}.",
        ),
        ("Aquí tiene los datos que pidió:", "Claro, esto es lo que figura en la ficha.", "Hecho. Resumen:"),
        "Viajes Iberia S.L.", "{units},{cents} €",
    ),
    Locale(
        "it-IT", "IT", "IT",
        ("Giuseppe", "Giulia", "Niccolò", "Chiara", "Matteo", "Francesca"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano"),
        ("libero.it", "virgilio.it", "tiscali.it", "gmail.com", "pec.studio-romano.it", "alice.it"),
        "Nome|Email|Telefono|Cellulare|Numero carta|IBAN|SSN|Indirizzo IP|Token API|Ordine|Versione|Sezione|Importo|Data|Tracciamento|Stato",  # noqa: E501
        (
            "Il {label} di {name} è {value}.",
            "{name} ci ha indicato {value} come {label}.",
            "Dalla scheda: {label} {value}, aggiornato ieri.",
            "D'ora in poi usate {value} ({label}) per {name}.",
        ),
        ("Ecco i dati richiesti:", "Certo, ecco cosa riporta la scheda.", "Fatto. Riepilogo:"),
        "Studio Romano S.r.l.", "€ {units},{cents}",
    ),
    Locale(
        "nl-NL", "NL", "NL",
        ("Daan", "Sanne", "Sem", "Emma", "Lars", "Fleur"),
        ("de Jong", "Jansen", "de Vries", "van Dijk", "Bakker", "Visser"),
        ("ziggo.nl", "kpnmail.nl", "gmail.com", "hotmail.nl", "xs4all.nl", "visser-advies.nl"),
        "Naam|E-mail|Telefoon|Mobiel|Kaartnummer|IBAN|SSN|IP-adres|API-token|Bestelling|Versie|Sectie|Bedrag|Datum|Track & trace|Status",  # noqa: E501
        (
            "Het {label} van {name} is {value}.",
            "{name} heeft {value} opgegeven als {label}.",
            "Volgens het dossier: {label} {value}, gisteren bijgewerkt.",
            "Gebruik voortaan {value} ({label}) voor {name}.",
        ),
        ("Hier zijn de gevraagde gegevens:", "Natuurlijk, dit staat in het dossier.", "Klaar. Samenvatting:"),
        "Visser Advies B.V.", "€ {units},{cents}",
    ),
    Locale(
        "pl-PL", "PL", "PL",
        ("Łukasz", "Zofia", "Michał", "Małgorzata", "Paweł", "Agnieszka"),
        ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Zieliński", "Kamińska"),
        ("wp.pl", "onet.pl", "interia.pl", "gmail.com", "o2.pl", "biuro.kamin-trans.pl"),
        "Imię i nazwisko|E-mail|Telefon|Komórka|Numer karty|IBAN|SSN|Adres IP|Token API|Zamówienie|Wersja|Sekcja|Kwota|Data|Numer przesyłki|Status",  # noqa: E501
        (
            "{label} klienta {name} to {value}.",
            "{name} podał(a) {value} jako {label}.",
            "Według karty: {label} {value}, zaktualizowano wczoraj.",
            "Proszę odtąd używać {value} ({label}) dla {name}.",
        ),
        ("Oto dane, o które Pan prosił:", "Jasne, oto co zawiera karta klienta.", "Gotowe. Podsumowanie:"),
        "Kamin-Trans Sp. z o.o.", "{units},{cents} zł",
    ),
    Locale(
        "pt-BR", "BR", "BR",
        ("João", "Ana", "Luís", "Beatriz", "Gustavo", "Letícia"),
        ("Silva", "Santos", "Oliveira", "Souza", "Conceição", "Araújo"),
        ("uol.com.br", "bol.com.br", "gmail.com", "terra.com.br", "hotmail.com", "contabil-araujo.com.br"),
        "Nome|E-mail|Telefone|Celular|Número do cartão|IBAN|SSN|Endereço IP|Token de API|Pedido|Versão|Seção|Valor|Data|Rastreio|Situação",  # noqa: E501
        (
            "O {label} de {name} é {value}.",
            "{name} informou {value} como {label}.",
            "Pelo cadastro: {label} {value}, atualizado ontem.",
            "A partir de agora use {value} ({label}) para {name}.",
        ),
        ("Seguem os dados solicitados:", "Claro, isto é o que consta no cadastro.", "Pronto. Resumo:"),
        "Araújo Contábil Ltda.", "R$ {units},{cents}",
    ),
    Locale(
        "ja-JP", "JP", None,
        ("太郎", "花子", "翔太", "美咲", "健一", "由美"),
        ("山田", "佐藤", "鈴木", "高橋", "田中", "伊藤"),
        ("docomo.ne.jp", "yahoo.co.jp", "gmail.com", "ezweb.ne.jp", "tanaka-shoji.co.jp", "i.softbank.jp"),
        "氏名|メール|電話番号|携帯番号|カード番号|IBAN|SSN|IPアドレス|APIトークン|注文番号|バージョン|セクション|金額|日付|追跡番号|状態",
        (
            "{name}様の{label}は{value}です。",
            "{name}様の{label}\uff1a{value}\uff08確認済み\uff09",
            "{label}は {value} に変更されました。",
            "記録によると、{name}様の{label}は「{value}」です。",
        ),
        ("ご依頼の情報は以下のとおりです。", "記録の内容をお知らせします。", "完了しました。概要\uff1a"),
        "田中商事株式会社", "¥{units}",
        ("taro", "hanako", "shota", "misaki", "kenichi", "yumi"),
        ("yamada", "sato", "suzuki", "takahashi", "tanaka", "ito"),
    ),
    Locale(
        "sv-SE", "SE", "SE",
        ("Åsa", "Erik", "Linnéa", "Oskar", "Ingrid", "Björn"),
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Öberg", "Lindqvist"),
        ("telia.com", "gmail.com", "bredband.net", "spray.se", "hotmail.se", "lindqvist-bygg.se"),
        "Namn|E-post|Telefon|Mobil|Kortnummer|IBAN|SSN|IP-adress|API-token|Order|Version|Avsnitt|Belopp|Datum|Kollinummer|Status",
        (
            "{label} för {name} är {value}.",
            "{name} har angett {value} som {label}.",
            "Enligt kortet: {label} {value}, uppdaterad i går.",
            "Använd hädanefter {value} ({label}) för {name}.",
        ),
        ("Här är uppgifterna du bad om:", "Visst, detta står i registret.", "Klart. Sammanfattning:"),
        "Lindqvist Bygg AB", "{units},{cents} kr",
    ),
)  # fmt: skip
