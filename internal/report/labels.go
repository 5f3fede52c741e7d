package report

import (
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message/catalog"
)

// labels is the message catalog of the words the PDF and XLSX print. The
// keys are the en-US texts; en-GB uses them as they are.
var labels = buildLabels()

// translations maps an en-US label to its de-DE, fr-FR, es-ES and ja-JP
// forms, in that order.
//
//nolint:misspell // French and Spanish words, not misspelt English
var translations = map[string][4]string{
	"Order history":        {"Bestellhistorie", "Historique des commandes", "Historial de pedidos", "注文履歴"},
	"Merchant sales":       {"Händlerumsätze", "Ventes du marchand", "Ventas del comercio", "加盟店売上"},
	"Customer":             {"Kunde", "Client", "Cliente", "顧客"},
	"Merchant":             {"Händler", "Marchand", "Comercio", "加盟店"},
	"Order":                {"Bestellung", "Commande", "Pedido", "注文"},
	"Placed":               {"Aufgegeben", "Passée le", "Realizado", "注文日"},
	"Status":               {"Status", "Statut", "Estado", "状態"},
	"Items":                {"Artikel", "Articles", "Uds.", "点数"},
	"Currency":             {"Währung", "Devise", "Moneda", "通貨"},
	"Total":                {"Summe", "Total", "Total", "合計"},
	"Refunded":             {"Erstattet", "Remboursé", "Reembolsado", "返金額"},
	"Shipped / carrier":    {"Versand / Spediteur", "Expédiée / transporteur", "Enviado / transportista", "発送 / 配送業者"},
	"Day":                  {"Tag", "Jour", "Día", "日付"},
	"Days":                 {"Tage", "Jours", "Días", "日数"},
	"Orders":               {"Bestellungen", "Commandes", "Pedidos", "注文数"},
	"Cancellations":        {"Stornierungen", "Annulations", "Cancelaciones", "キャンセル"},
	"Gross":                {"Brutto", "Brut", "Bruto", "総額"},
	"Refunds":              {"Erstattungen", "Remboursements", "Reembolsos", "返金"},
	"Net":                  {"Netto", "Net", "Neto", "純額"},
	"Tax":                  {"Steuer", "Taxes", "Impuestos", "税額"},
	"Totals by currency":   {"Summen nach Währung", "Totaux par devise", "Totales por moneda", "通貨別合計"},
	"All currencies":       {"Alle Währungen", "Toutes devises", "Todas las monedas", "全通貨"},
	"All":                  {"Alle", "Tout", "Todo", "全体"},
	"Summary":              {"Zusammenfassung", "Résumé", "Resumen", "概要"},
	"Orders with a refund": {"Bestellungen mit Erstattung", "Commandes remboursées", "Pedidos con reembolso", "返金のある注文"},
	"Refunded in %s":       {"Erstattet in %s", "Remboursé en %s", "Reembolsado en %s", "%s の返金額"},
	"Days with sales":      {"Tage mit Umsatz", "Jours avec ventes", "Días con ventas", "売上のある日数"},
	"Net sales in %s":      {"Nettoumsatz in %s", "Ventes nettes en %s", "Ventas netas en %s", "%s の純売上"},
	"No orders in this period.": {"Keine Bestellungen in diesem Zeitraum.", "Aucune commande sur cette période.",
		"No hay pedidos en este periodo.", "この期間の注文はありません。"},
	"No sales in this period.": {"Keine Umsätze in diesem Zeitraum.", "Aucune vente sur cette période.",
		"No hay ventas en este periodo.", "この期間の売上はありません。"},
	"Period":              {"Zeitraum", "Période", "Periodo", "期間"},
	"Report ID":           {"Bericht-ID", "ID du rapport", "ID del informe", "レポートID"},
	"Client":              {"Mandant", "Client", "Cliente", "クライアント"},
	"Generated":           {"Erstellt", "Généré le", "Generado", "作成日時"},
	"Data position":       {"Datenstand", "Position des données", "Posición de datos", "データ位置"},
	"Time zone":           {"Zeitzone", "Fuseau horaire", "Zona horaria", "タイムゾーン"},
	"Prepared by reportd": {"Erstellt von reportd", "Préparé par reportd", "Preparado por reportd", "reportd が作成"},
	"Report %s":           {"Bericht %s", "Rapport %s", "Informe %s", "レポート %s"},
	"generated %s":        {"erstellt %s", "généré le %s", "generado %s", "作成 %s"},
	"Page %d of ":         {"Seite %d von ", "Page %d sur ", "Página %d de ", "ページ %d / "},
	"all time":            {"gesamter Zeitraum", "toute la période", "todo el periodo", "全期間"},
	"placed":              {"Bestellt", "Passée", "Realizado", "注文済み"},
	"paid":                {"Bezahlt", "Payée", "Pagado", "支払済み"},
	"shipped":             {"Versandt", "Expédiée", "Enviado", "発送済み"},
	"cancelled":           {"Storniert", "Annulée", "Cancelado", "キャンセル"},
	"refunded":            {"Erstattet", "Remboursée", "Reembolsado", "返金済み"},
	// The merchant_sales charts
	"Sales per day in %s":   {"Umsatz pro Tag in %s", "Ventes par jour en %s", "Ventas por día en %s", "%s の日別売上"},
	"Sales per week in %s":  {"Umsatz pro Woche in %s", "Ventes par semaine en %s", "Ventas por semana en %s", "%s の週別売上"},
	"Sales per month in %s": {"Umsatz pro Monat in %s", "Ventes par mois en %s", "Ventas por mes en %s", "%s の月別売上"},
	"Sales per year in %s":  {"Umsatz pro Jahr in %s", "Ventes par an en %s", "Ventas por año en %s", "%s の年別売上"},
	"With refund":           {"Mit Erstattung", "Remboursées", "Con reembolso", "返金あり"},
	// XLSX
	"Sales":           {"Umsätze", "Ventes", "Ventas", "売上"},
	"Placed at":       {"Aufgegeben am", "Passée le", "Realizado el", "注文日時"},
	"Paid at":         {"Bezahlt am", "Payée le", "Pagado el", "支払日時"},
	"Shipped at":      {"Versandt am", "Expédiée le", "Enviado el", "発送日時"},
	"Cancelled at":    {"Storniert am", "Annulée le", "Cancelado el", "キャンセル日時"},
	"Carrier":         {"Spediteur", "Transporteur", "Transportista", "配送業者"},
	"Tracking number": {"Sendungsnummer", "Numéro de suivi", "Número de seguimiento", "追跡番号"},
	"Title":           {"Titel", "Titre", "Título", "タイトル"},
	"From":            {"Von", "Du", "Desde", "開始日"},
	"To":              {"Bis", "Au", "Hasta", "終了日"},
	"Generated at":    {"Erstellt am", "Généré le", "Generado el", "作成日時"},
	"Rows":            {"Zeilen", "Lignes", "Filas", "行数"},
	"Locale":          {"Gebietsschema", "Paramètres régionaux", "Configuración regional", "ロケール"},
}

func buildLabels() catalog.Catalog {
	b := catalog.NewBuilder(catalog.Fallback(language.AmericanEnglish))
	langs := [4]language.Tag{
		language.MustParse("de-DE"), language.MustParse("fr-FR"), language.MustParse("es-ES"), language.MustParse("ja-JP"),
	}
	for key, tr := range translations {
		for i, tag := range langs {
			if err := b.SetString(tag, key, tr[i]); err != nil {
				panic("report labels: " + err.Error()) // a typo in the table above; caught by every test
			}
		}
	}
	// The statuses are keyed by their lower-case wire names.
	for _, st := range []string{"placed", "paid", "shipped", "cancelled", "refunded"} {
		if err := b.SetString(language.English, st, strings.ToUpper(st[:1])+st[1:]); err != nil {
			panic("report labels: " + err.Error())
		}
	}
	return b
}
